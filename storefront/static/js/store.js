/* Progressive enhancement for every page. The shop works without this file. */
(function () {
  "use strict";

  // Cart badge: shared pages carry an <esi:include> the edge replaces with the shopper's fragment. Where no
  // edge did (the origin served directly), the include element is still there and this fills it in.
  function fillCartBadges() {
    var badges = document.querySelectorAll("[data-cart-badge]");
    if (!badges.length) return;
    var pending = Array.prototype.filter.call(badges, function (el) {
      return el.getElementsByTagName("esi:include").length > 0;
    });
    if (!pending.length || !window.fetch) return;
    fetch("/_fragments/cart-badge", { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        pending.forEach(function (el) { el.innerHTML = html; });
      })
      .catch(function () { /* the badge is a nicety; the cart link still works */ });
  }

  // Filter and sort forms apply on change; their submit buttons are only for visitors without JS.
  function autoSubmit() {
    document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      form.querySelectorAll("[data-js-hide]").forEach(function (el) { el.hidden = true; });
      form.addEventListener("change", function () { form.submit(); });
    });
    var filters = document.querySelector("[data-filters]");
    if (filters && window.matchMedia("(max-width: 899px)").matches) filters.open = false;
  }

  // Gallery thumbnails scroll the image strip instead of jumping the whole page.
  function showSlide(slide) {
    var track = document.querySelector("[data-gallery]");
    if (!track || !slide) return;
    var smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    track.scrollTo({ left: slide.offsetLeft - track.offsetLeft, behavior: smooth ? "smooth" : "auto" });
    document.querySelectorAll("[data-gallery-thumb]").forEach(function (thumb) {
      if (thumb.getAttribute("href") === "#" + slide.id) thumb.setAttribute("aria-current", "true");
      else thumb.removeAttribute("aria-current");
    });
  }

  function gallery() {
    document.querySelectorAll("[data-gallery-thumb]").forEach(function (thumb) {
      thumb.addEventListener("click", function (event) {
        var target = document.getElementById(thumb.getAttribute("href").slice(1));
        if (!target) return;
        event.preventDefault();
        showSlide(target);
      });
    });
  }

  // Picking a colour shows an image of that colour when there is one ("… in Plum, side view").
  function slideFor(value) {
    var images = document.querySelectorAll("[data-gallery] img");
    for (var i = 0; i < images.length; i++) {
      var alt = " " + images[i].getAttribute("alt") + ",";
      if (alt.indexOf(" " + value + ",") !== -1) return images[i].closest("figure");
    }
    return null;
  }

  // Variant picker: option buttons choose the variant; the select (what the form submits) follows them.
  function variantPicker() {
    var form = document.querySelector("[data-variant-picker]");
    var groups = form && form.querySelector("[data-option-groups]");
    var select = form && form.querySelector("select[name=variant_id]");
    if (!groups || !select) return;
    var data = JSON.parse(form.getAttribute("data-variants"));
    var byId = {};
    data.variants.forEach(function (v) { byId[String(v.id)] = v; });
    var current = byId[select.value] || data.variants[0];
    var chosen = Object.assign({}, current.options);

    function find(options) {
      return data.variants.find(function (v) {
        return data.options.every(function (name) { return v.options[name] === options[name]; });
      });
    }

    function render() {
      var variant = find(chosen);
      groups.querySelectorAll("[data-option]").forEach(function (button) {
        var name = button.getAttribute("data-option");
        var value = button.getAttribute("data-value");
        var candidate = find(Object.assign({}, chosen, (function () { var o = {}; o[name] = value; return o; })()));
        button.setAttribute("aria-pressed", String(chosen[name] === value));
        button.classList.toggle("is-unavailable", !candidate || candidate.available <= 0);
      });
      groups.querySelectorAll("[data-option-current]").forEach(function (el) {
        el.textContent = chosen[el.getAttribute("data-option-current")] || "";
      });
      var price = document.querySelector("[data-price]");
      var was = document.querySelector("[data-compare-at]");
      var wasValue = document.querySelector("[data-compare-at-value]");
      var sale = document.querySelector("[data-sale-badge]");
      var stock = form.querySelector("[data-stock]");
      var button = form.querySelector("[data-add-button]");
      if (!variant) {
        stock.textContent = "This combination is not available";
        stock.className = "stock stock-out";
        button.disabled = true;
        button.textContent = "Unavailable";
        return;
      }
      select.value = String(variant.id);
      price.textContent = variant.price;
      price.classList.toggle("is-sale", !!variant.compareAt);
      if (was) { was.hidden = !variant.compareAt; wasValue.textContent = variant.compareAt || ""; }
      if (sale) sale.hidden = !variant.compareAt;
      stock.textContent = variant.stock;
      stock.className = "stock stock-" + variant.state;
      button.disabled = variant.available <= 0;
      button.textContent = variant.available <= 0 ? "Sold out" : "Add to cart";
      var url = new URL(window.location.href);
      url.searchParams.set("variant", String(variant.id));
      window.history.replaceState(null, "", url);
    }

    groups.addEventListener("click", function (event) {
      var button = event.target.closest("[data-option]");
      if (!button) return;
      chosen[button.getAttribute("data-option")] = button.getAttribute("data-value");
      render();
      showSlide(slideFor(button.getAttribute("data-value")));
    });
    groups.hidden = false;
    form.querySelector("[data-variant-select]").hidden = true;
    render();
  }

  function start() {
    fillCartBadges();
    autoSubmit();
    gallery();
    variantPicker();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
