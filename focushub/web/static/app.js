// Focus Hub's own script on every page: htmx requests carry the page's CSRF token, and a
// chosen file over the upload limit is refused by its field.
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
