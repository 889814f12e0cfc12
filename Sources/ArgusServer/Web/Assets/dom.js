// Small DOM helpers. Text from the server is only ever set with textContent, never parsed as HTML.
export const $ = (id) => document.getElementById(id);

/** An element with attributes (strings) and children (nodes, or strings as text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = String(v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return node;
}

/** Sets text only when it changed (no layout work for the common no-op case). */
export function setText(node, text) {
  const t = String(text);
  if (node && node.textContent !== t) node.textContent = t;
}

/** A page section cloned from its `<template>` into `<main>`. */
export function mount(templateID) {
  const main = $('main');
  main.replaceChildren($(templateID).content.cloneNode(true));
  return main;
}

let toastTimer = 0;
/** A short message at the bottom of the page. */
export function toast(text, isError = false) {
  const t = $('toast');
  t.textContent = text;
  t.classList.toggle('error', isError);
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 8000 : 4000);
}

/** Asks a yes/no question in `#confirm`; resolves true on Yes. */
export function confirmAction(question, yesLabel) {
  const box = $('confirm');
  const yes = $('confirm-yes');
  const no = $('confirm-no');
  $('confirm-text').textContent = question;
  yes.textContent = yesLabel;
  box.hidden = false;
  yes.focus();
  return new Promise((resolve) => {
    const done = (answer) => {
      box.hidden = true;
      yes.removeEventListener('click', onYes);
      no.removeEventListener('click', onNo);
      document.removeEventListener('keydown', onKey);
      resolve(answer);
    };
    const onYes = () => done(true);
    const onNo = () => done(false);
    const onKey = (e) => { if (e.key === 'Escape') done(false); };
    yes.addEventListener('click', onYes);
    no.addEventListener('click', onNo);
    document.addEventListener('keydown', onKey);
  });
}

/** Breadcrumbs in the header: [text, href?] pairs. */
export function crumbs(parts) {
  const nav = $('crumbs');
  const key = JSON.stringify(parts);
  if (nav.dataset.key === key) return;
  nav.dataset.key = key;
  nav.replaceChildren();
  parts.forEach(([text, href], i) => {
    if (i > 0) nav.append(el('span', { class: 'muted', text: '/' }));
    nav.append(href ? el('a', { href, text }) : el('span', { text }));
  });
}
