/* Checkout: the test-mode card widget and the live order total.
 *
 * Like hosted payment fields, the widget turns a card number into a payment token in the browser. The card
 * inputs have no `name`, so the number is never submitted; only `payment_token` is. The number -> token
 * table comes from the page (rendered from the payment provider's table on the server).
 */
(function () {
  "use strict";

  function start() {
    var form = document.querySelector("[data-checkout-form]");
    if (!form) return;
    var widget = form.querySelector("[data-card-widget]");
    var tokenInput = form.querySelector("[data-payment-token]");
    var number = form.querySelector("#card-number");
    var error = form.querySelector("[data-card-error]");
    var cards = widget ? JSON.parse(widget.getAttribute("data-test-cards") || "{}") : {};
    var payButton = form.querySelector("[data-pay-button]");

    if (widget && number) {
      widget.hidden = false;

      number.addEventListener("input", function () {
        var digits = number.value.replace(/\D/g, "").slice(0, 19);
        var grouped = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
        if (grouped !== number.value) number.value = grouped;
        clearError();
      });

      form.addEventListener("submit", function (event) {
        var digits = number.value.replace(/[\s-]/g, "");
        var token = cards[digits];
        if (!token) {
          event.preventDefault();
          showError(digits ? "Use a test card, e.g. 4242 4242 4242 4242" : "Enter your card number.");
          return;
        }
        tokenInput.value = token;
        if (payButton) {
          // One click, one attempt; the server also deduplicates with the form's idempotency key.
          window.setTimeout(function () { payButton.disabled = true; }, 0);
        }
      });
    }

    function showError(text) {
      error.textContent = text;
      error.hidden = false;
      number.setAttribute("aria-invalid", "true");
      number.focus();
    }

    function clearError() {
      if (error.hidden) return;
      error.hidden = true;
      error.textContent = "";
      number.removeAttribute("aria-invalid");
    }

    // The summary follows the chosen shipping method; the server recomputes everything on submit.
    form.querySelectorAll("input[name=shipping_method]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (!radio.checked) return;
        var set = function (selector, value) {
          var el = document.querySelector(selector);
          if (el && value) el.textContent = value;
        };
        set("[data-summary-shipping]", radio.getAttribute("data-shipping"));
        set("[data-summary-tax]", radio.getAttribute("data-tax"));
        set("[data-summary-total]", radio.getAttribute("data-total"));
        if (payButton) payButton.textContent = "Pay " + radio.getAttribute("data-total");
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
