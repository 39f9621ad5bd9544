// The browser's own form checks speak its language (Chromium in English: "Please fill out this field."), not the
// page's: a field the page requires says so in the page's language instead (the message is on <html>, from the
// catalogue). Without JavaScript the browser's message stays, and the server answers in the page's language.
"use strict";
(function () {
  var message = document.documentElement.getAttribute("data-required-message");
  if (!message) return;
  document.addEventListener("invalid", function (event) {
    var field = event.target;
    if (field.validity && field.validity.valueMissing) field.setCustomValidity(message);
  }, true);
  document.addEventListener("input", function (event) {
    if (event.target.setCustomValidity) event.target.setCustomValidity("");
  }, true);
  document.addEventListener("change", function (event) {
    if (event.target.setCustomValidity) event.target.setCustomValidity("");
  }, true);
})();

// File fields (templates/_fields.html): the chosen file's name in our label, the native control hidden by CSS.
(function () {
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (!field.classList || !field.classList.contains("file-input")) return;
    var name = field.parentNode.querySelector(".file-name");
    if (!name) return;
    var chosen = Array.prototype.map.call(field.files || [], function (file) { return file.name; });
    name.textContent = chosen.length ? chosen.join(", ") : name.getAttribute("data-none");
  }, true);
})();
