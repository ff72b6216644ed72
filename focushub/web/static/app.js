// Focus Hub's own script on every page: htmx requests carry the page's CSRF token, a
// chosen file over the upload limit is refused by its field, Enter sends a message, a
// failed htmx request says why next to what sent it, and "Load more" hands the keyboard's
// focus to what it loaded.
document.addEventListener("htmx:configRequest", function (event) {
  var token = document.querySelector('meta[name="csrf-token"]');
  if (token) {
    event.detail.headers["X-CSRF-Token"] = token.content;
  }
});

// A chosen file over the server's limit is refused at once, next to its field, instead of
// after an upload the server must cut off (without JavaScript the server refuses it).
document.addEventListener("change", function (event) {
  var input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.dataset.maxBytes) {
    return;
  }
  // A size as the pages say it (web/router.size): whole KB under 1 MB, else MB to a decimal.
  var size = function (bytes) {
    if (bytes < 1048576) { return Math.ceil(bytes / 1024) + " KB"; }
    return (bytes / 1048576).toFixed(1).replace(/\.0$/, "") + " MB";
  };
  var limit = parseInt(input.dataset.maxBytes, 10);
  var file = input.files && input.files[0];
  input.setCustomValidity(file && file.size > limit ?
    "This file is " + size(file.size) + "; files are limited to " + size(limit) + "." : "");
  input.reportValidity();
});

// A message box (data-enter-sends="<id of its help>"): Enter sends its form, Shift+Enter
// starts a new line. Not while an input method composes (Enter there picks the characters;
// keyCode 229 is how some browsers say so). The form is sent as its button sends it
// (requestSubmit: its checks and its submit handlers run), so the page works the same
// without this script, the button sending. The help saying so is shown only with it.
document.addEventListener("keydown", function (event) {
  var box = event.target;
  if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey ||
      event.metaKey || event.isComposing || event.keyCode === 229 ||
      !(box instanceof HTMLTextAreaElement) || !box.hasAttribute("data-enter-sends") ||
      !box.form) {
    return;
  }
  event.preventDefault();
  if (box.form.requestSubmit) {
    box.form.requestSubmit();
  } else {
    var button = box.form.querySelector('button[type="submit"]');
    if (button) { button.click(); }
  }
});
document.querySelectorAll("textarea[data-enter-sends]").forEach(function (box) {
  var help = document.getElementById(box.dataset.enterSends);
  if (!help) { return; }
  help.hidden = false;
  var described = box.getAttribute("aria-describedby");
  box.setAttribute("aria-describedby", (described ? described + " " : "") + help.id);
});

// "Copy link" and "Copy" buttons (_copy.html): shown only where the page may write to the
// clipboard, which browsers allow over HTTPS and on this machine. A link is copied as a
// whole address; a text as the page shows it (innerText: the rendered answer, not its
// Markdown). What happened is said in one polite live region, and on the button itself.
(function () {
  if (!navigator.clipboard || !window.isSecureContext) { return; }
  var reveal = function (root) {
    root.querySelectorAll("button.copy").forEach(function (button) { button.hidden = false; });
  };
  reveal(document);
  // Buttons in what htmx brings later (more answers) are shown as they arrive.
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
  var status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  document.body.appendChild(status);
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("button.copy") : null;
    if (!button) { return; }
    var text = null;
    if (button.dataset.copyUrl) {
      text = new URL(button.dataset.copyUrl, window.location.href).href;
    } else if (button.dataset.copyFrom) {
      var source = document.querySelector(button.dataset.copyFrom);
      text = source ? source.innerText.trim() : null;
    }
    if (!text) { return; }
    var label = button.querySelector(".copy-label");
    if (!button.dataset.label) { button.dataset.label = label.textContent; }
    var say = function (words) {
      status.textContent = words;
      label.textContent = words;
      window.clearTimeout(button.copyTimer);
      button.copyTimer = window.setTimeout(function () {
        label.textContent = button.dataset.label;
      }, 2000);
    };
    navigator.clipboard.writeText(text).then(function () { say("Copied"); },
                                             function () { say("Could not copy"); });
  });
})();

// An htmx request that fails (a form expired: 403, a limit: 429, our own fault: 500, or no
// connection) puts nothing in place, so the button or link would seem to do nothing. The
// error page's own words are said next to it instead, in an alert, until it is tried again.
function failureNote(elt) {
  var next = elt.nextElementSibling;
  return next && next.classList.contains("request-failed") ? next : null;
}
function sayFailure(elt, words) {
  // Only for what a person pressed (a link, a button, a form): not for the header's badge
  // polling in the background, nor for the suggestions fetched while typing.
  if (!elt || !elt.matches("a, button, form")) { return; }
  var note = failureNote(elt);
  if (!note) {
    note = document.createElement("p");
    note.className = "errors request-failed";
    note.setAttribute("role", "alert");
    elt.insertAdjacentElement("afterend", note);
  }
  note.textContent = words;
}
document.addEventListener("htmx:beforeRequest", function (event) {
  var note = failureNote(event.detail.elt);
  if (note) { note.remove(); }
});
document.addEventListener("htmx:responseError", function (event) {
  var xhr = event.detail.xhr;
  var page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
  // The error page: its heading and the sentences after it, not its links.
  var words = Array.prototype.filter.call(page.querySelectorAll("main h1, main p"),
    function (e) { return !e.querySelector("a"); })
    .map(function (e) { return e.textContent.trim(); }).join(" ");
  sayFailure(event.detail.elt, words ||
    "That did not work (" + xhr.status + "); reload the page and try again.");
});
document.addEventListener("htmx:sendError", function (event) {
  sayFailure(event.detail.elt,
    "Focus Hub could not be reached; check the connection and try again.");
});

// "Load more" and "Show more" go away with the items they bring in. Focus that was on such a
// link would fall back to the top of the page, so a keyboard user would tab through the
// whole list again; it goes to the first new item instead. (What keeps its own focus, a
// button with the same id or an element with autofocus, is left alone.)
var loadedAt = null;
document.addEventListener("htmx:beforeSwap", function (event) {
  var target = event.detail.target;
  var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
  loadedAt = null;
  if (!target || !target.contains(document.activeElement)) { return; }
  var outer = elt && (elt.getAttribute("hx-swap") || "").indexOf("outerHTML") === 0;
  loadedAt = outer ? { parent: target.parentElement, before: target.previousElementSibling }
                   : { parent: target, before: null };
});
document.addEventListener("htmx:afterSettle", function () {
  var at = loadedAt;
  loadedAt = null;
  if (!at || (document.activeElement && document.activeElement !== document.body)) { return; }
  var first = at.before ? at.before.nextElementSibling : at.parent.firstElementChild;
  if (!first) { return; }
  var focusable = "a[href], button, input, select, textarea, [tabindex]";
  var into = first.matches(focusable) ? first : first.querySelector(focusable);
  if (!into) {
    first.setAttribute("tabindex", "-1");
    into = first;
  }
  into.focus();
});
