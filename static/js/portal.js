/* Progressive enhancement only: every action works without JavaScript.
 *
 * - <details class="menu"> / <details class="confirm">: close on outside click and on Escape
 *   (focus returns to the summary); opening one closes the others.
 * - <form data-confirm="Question?"> (or a submit button with data-confirm): confirm() first.
 * - <select data-autosubmit>: submits its form on change; an element marked
 *   [data-autosubmit-hide] in that form (the "Apply" button) is hidden when JS runs.
 * - [data-copy="#element-id"] buttons (rendered with the `hidden` attribute): copy that
 *   element's text to the clipboard.
 * - .table-wrap that scrolls sideways becomes keyboard-focusable, named by its table caption.
 *
 * No inline scripts anywhere: the CSP allows script-src 'self' only.
 */
(function () {
  "use strict";

  var POPUPS = "details.menu, details.confirm";

  function closeAll(except) {
    document.querySelectorAll(POPUPS + "[open]").forEach(function (el) {
      if (el !== except && !el.contains(except)) {
        el.removeAttribute("open");
      }
    });
  }

  function initPopups() {
    document.addEventListener("click", function (event) {
      var inside = event.target.closest(POPUPS);
      closeAll(inside);
    });

    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") {
        return;
      }
      var open = event.target.closest(POPUPS + "[open]") || document.querySelector(POPUPS + "[open]");
      if (open) {
        open.removeAttribute("open");
        var summary = open.querySelector("summary");
        if (summary) {
          summary.focus();
        }
      }
    });

    document.querySelectorAll(POPUPS).forEach(function (el) {
      el.addEventListener("toggle", function () {
        if (el.open) {
          closeAll(el);
        }
      });
    });
  }

  function initConfirm() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      if (message && !window.confirm(message)) {
        event.preventDefault();
      }
    });
  }

  function initAutosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      var form = select.form;
      if (!form) {
        return;
      }
      form.querySelectorAll("[data-autosubmit-hide]").forEach(function (el) {
        el.hidden = true;
      });
      select.addEventListener("change", function () {
        if (typeof form.requestSubmit === "function") {
          form.requestSubmit();
        } else {
          form.submit();
        }
      });
    });
  }

  function initCopy() {
    if (!navigator.clipboard) {
      return;
    }
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var target = document.querySelector(button.getAttribute("data-copy"));
      if (!target) {
        return;
      }
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(target.textContent).then(function () {
          button.textContent = button.getAttribute("data-copied") || label;
          window.setTimeout(function () {
            button.textContent = label;
          }, 2000);
        });
      });
    });
  }

  function initScrollableTables() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.scrollWidth <= wrap.clientWidth || wrap.hasAttribute("tabindex")) {
        return;
      }
      wrap.setAttribute("tabindex", "0");
      if (!wrap.hasAttribute("role")) {
        wrap.setAttribute("role", "region");
      }
      var caption = wrap.querySelector("caption");
      if (caption && !wrap.hasAttribute("aria-label") && !wrap.hasAttribute("aria-labelledby")) {
        wrap.setAttribute("aria-label", caption.textContent.trim());
      }
    });
  }

  function init() {
    document.documentElement.classList.add("js");
    initPopups();
    initConfirm();
    initAutosubmit();
    initCopy();
    initScrollableTables();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
