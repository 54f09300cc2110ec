/* Progressive enhancement only: every action works without JavaScript. */
