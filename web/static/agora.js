// Agora's only script: copy buttons. Pages work without it; the buttons
// stay hidden unless it runs.
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var field = document.getElementById(button.dataset.copy);
  if (!field || !navigator.clipboard) return;
  var label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = button.dataset.copied || "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });
});
