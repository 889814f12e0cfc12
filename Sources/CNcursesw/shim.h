#ifndef ARGUS_CNCURSESW_SHIM_H
#define ARGUS_CNCURSESW_SHIM_H
/* The wide-character API needs these before curses.h; SwiftPM drops pkg-config's -D_XOPEN_SOURCE. */
#define _XOPEN_SOURCE_EXTENDED 1
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <langinfo.h>
#include <wchar.h>
#include <ncursesw/curses.h>
#include <malloc.h>

/* glibc: return freed heap pages to the OS (the TUI calls it after parsing a large view). */
static inline int cn_malloc_trim(void) { return malloc_trim(0); }

/* Macros and globals Swift cannot see (or sees as unsafe shared state): tiny accessors. */
static inline WINDOW *cn_stdscr(void) { return stdscr; }
static inline int cn_lines(void) { return LINES; }
static inline int cn_cols(void) { return COLS; }
static inline int cn_colors(void) { return COLORS; }
static inline attr_t cn_A_BOLD(void) { return A_BOLD; }
static inline attr_t cn_A_DIM(void) { return A_DIM; }
static inline attr_t cn_A_REVERSE(void) { return A_REVERSE; }
static inline attr_t cn_A_UNDERLINE(void) { return A_UNDERLINE; }
static inline attr_t cn_A_NORMAL(void) { return A_NORMAL; }
static inline int cn_key_resize(void) { return KEY_RESIZE; }
static inline const char *cn_codeset(void) { return nl_langinfo(CODESET); }
/* Starts curses on the terminal $TERM names, like initscr but without exiting the process when it cannot:
   0 started; 1 the terminal type is unknown here (no terminfo entry); 2 it cannot move the cursor (TERM=dumb),
   so no screen can be drawn on it (curses is shut down again before returning). */
static inline int cn_start(void) {
    SCREEN *screen = newterm(NULL, stdout, stdin);
    if (screen == NULL) return 1;
    const char *cup = tigetstr("cup");
    if (cup == NULL || cup == (const char *)-1) {
        endwin();
        delscreen(screen);
        return 2;
    }
    return 0;
}
/* One cell: a wide character, then up to three combining marks drawn on it, with attributes and a colour pair. */
static inline int cn_put_cell(int y, int x, wchar_t ch, wchar_t m1, wchar_t m2, wchar_t m3, attr_t attr, short pair) {
    cchar_t c;
    wchar_t s[5] = { ch, m1, m2, m3, 0 };
    setcchar(&c, s, attr, pair, NULL);
    return mvadd_wch(y, x, &c);
}
#endif
