// kantorpos admin: the little JavaScript the pages use. Everything works
// without it; it only asks before destructive actions.
"use strict";
document.addEventListener("submit", (ev) => {
  const form = ev.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) {
    ev.preventDefault();
  }
});
