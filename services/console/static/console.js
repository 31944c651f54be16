// LeadFlow console: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Forms that do something hard to undo ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Sequence editor: show only the fields that apply to the chosen kind of trigger, branch
  // condition or re-entry (all stay in the form; the server reads the ones that apply).
  // Fields with a problem stay visible whatever is chosen.
  var choice = function (form, name) {
    var controls = form.querySelectorAll('[name="' + name + '"]');
    for (var i = 0; i < controls.length; i++) {
      var c = controls[i];
      if (c.type === "radio") { if (c.checked) return c.value; } else return c.value;
    }
    return null;
  };
  var sync = function (form) {
    var parts = form.querySelectorAll("[data-when]");
    for (var i = 0; i < parts.length; i++) {
      var rule = parts[i].getAttribute("data-when").split(":");
      var invalid = parts[i].querySelector('[aria-invalid="true"]');
      parts[i].hidden = !invalid && choice(form, rule[0]) !== rule[1];
    }
  };
  var editors = document.querySelectorAll("form.editor");
  for (var e = 0; e < editors.length; e++) {
    sync(editors[e]);
    editors[e].addEventListener("change", function (event) { sync(event.currentTarget); });
  }

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
