// The console's only script besides htmx: every htmx request carries the page's CSRF token.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf"]');
  if (meta && event.detail.verb !== "get") { event.detail.parameters["csrf"] = meta.content; }
});
