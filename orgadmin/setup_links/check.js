// The setup page's live issuer check: posts the issuer to the link's own check address and says
// what it found. Served from /setup/check.js, the only script the page's policy allows.
(function () {
  var form = document.getElementById("setup-form");
  var button = document.getElementById("check-issuer");
  var result = document.getElementById("issuer-result");
  button.hidden = false;
  button.addEventListener("click", function () {
    var issuer = form.elements.issuer.value;
    result.textContent = "Checking…";
    fetch(form.dataset.checkUrl, {
      method: "POST", credentials: "omit",
      headers: {"Content-Type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams({issuer: issuer}).toString()
    }).then(function (response) { return response.json(); }).then(function (answer) {
      var line = document.createElement("p");
      line.className = "result " + (answer.passed ? "passed" : "failed");
      line.textContent = answer.message;
      result.replaceChildren(line);
    }).catch(function () {
      result.textContent = "The issuer could not be checked just now. You can still submit.";
    });
  });
})();
