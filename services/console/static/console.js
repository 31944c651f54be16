// LeadFlow console: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Forms that do something hard to undo ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Template editor: the preview follows the typing (and the chosen lead).
  var form = document.getElementById("template-form");
  var button = document.getElementById("preview-button");
  if (form && button) {
    var timer = null;
    var refresh = function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { form.requestSubmit(button); }, 400);
    };
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    form.requestSubmit(button);
  }
})();
