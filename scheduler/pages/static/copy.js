// The subscribe panel's 複製 button: shown only when scripts run (the link stays selectable
// without). A static file because the pages' CSP allows no inline script.
(function () {
  var button = document.getElementById("feed-copy");
  if (!button) { return; }
  var input = document.getElementById("feed-https");
  var said = document.getElementById("feed-copied");
  button.hidden = false;
  function done() { said.textContent = "已複製。"; }
  function fallback() {
    input.select();
    if (document.execCommand("copy")) { done(); } else { said.textContent = "請長按連結手動複製。"; }
  }
  button.addEventListener("click", function () {
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, fallback);
    } else {
      fallback();
    }
  });
})();
