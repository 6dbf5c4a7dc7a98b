// The Mini App's sign-in: send Telegram.WebApp.initData (signed by Telegram with the bot's token)
// to the server, which checks it and sets the session cookie; then show the gallery.
(function () {
  "use strict";
  var status = document.getElementById("status");
  var app = window.Telegram && window.Telegram.WebApp;
  if (!app || !app.initData) {
    status.textContent = "Open the gallery from the bot's button in Telegram, or sign in another way.";
    return;
  }
  app.ready();
  app.expand();
  fetch("/auth/telegram/webapp", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    // The nonce this page was given: the server signs in only the browser that opened it.
    body:
      "init_data=" + encodeURIComponent(app.initData) +
      "&nonce=" + encodeURIComponent(document.body.dataset.nonce || ""),
  })
    .then(function (response) {
      return response.json().then(function (body) {
        if (response.ok && body.next) {
          window.location.replace(body.next);
        } else {
          status.textContent = body.error || "Sign-in failed.";
        }
      });
    })
    .catch(function () {
      status.textContent = "The gallery could not be reached. Please try again.";
    });
})();
