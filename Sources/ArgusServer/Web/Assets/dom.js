// Small DOM helpers. Text from the server is only ever set with textContent, never parsed as HTML, and always
// through `clean` first.
export const $ = (id) => document.getElementById(id);

// C0 and C1 controls (not tab), DEL, bidi controls: they would reorder or hide text. argus-tui drops the same (Grid).
const CONTROLS = /[\u0000-\u0008\u000A-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** Text from the network made harmless to show: each control character becomes a space. */
export const clean = (text) => String(text ?? '').replace(CONTROLS, ' ');

/** An element with attributes (strings) and children (nodes, or strings as text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = clean(v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(typeof c === 'string' ? document.createTextNode(clean(c)) : c);
  }
  return node;
}

/** Sets text only when it changed (no layout work for the common no-op case). */
export function setText(node, text) {
  const t = clean(text);
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
  t.textContent = clean(text);
  t.classList.toggle('error', isError);
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 8000 : 4000);
}

/** Asks a yes/no question in `#confirm`; resolves true on Yes. No has the focus: Enter never confirms. */
export function confirmAction(question, yesLabel) {
  const box = $('confirm');
  const yes = $('confirm-yes');
  const no = $('confirm-no');
  $('confirm-text').textContent = clean(question);
  yes.textContent = yesLabel;
  box.hidden = false;
  no.focus();
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

/**
 * Header breadcrumbs: [text, href?] pairs. One too long is cut in the middle (`resnet50-sw…-seed3`); its title
 * holds it whole.
 */
export function crumbs(parts) {
  const nav = $('crumbs');
  const key = JSON.stringify(parts);
  if (nav.dataset.key === key) return;
  nav.dataset.key = key;
  nav.replaceChildren();
  parts.forEach(([text, href], i) => {
    if (i > 0) nav.append(el('span', { class: 'sep muted', text: '/' }));
    const t = clean(text);
    const chars = Array.from(t);
    const cut = chars.length > 16 ? chars.length - 8 : chars.length;
    nav.append(el(href ? 'a' : 'span', { href, title: t, class: i === 0 && parts.length > 2 ? 'crumb first' : 'crumb' },
      el('span', { class: 'head', text: chars.slice(0, cut).join('') }),
      cut < chars.length ? el('span', { class: 'tail', text: chars.slice(cut).join('') }) : null));
  });
}
