"""Checkout (form, submission) and the order confirmation page. All private; the form carries a CSRF token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from origin import (
    AlreadyOrdered,
    Cart,
    CheckoutBody,
    Conflict,
    Forbidden,
    InvalidRequest,
    Money,
    OutOfStockConflict,
    PaymentFailed,
    ResourceNotFound,
    TryAgain,
    compute_totals,
    shipping_price,
)
from storefront.checkout_form import (
    IDEMPOTENCY_FIELD,
    TEST_CARD_HINTS,
    TEST_TOKEN_CHOICES,
    CheckoutForm,
    domain_field_errors,
    test_cards_json,
    validation_errors,
)
from storefront.csrf import CSRF_FIELD
from storefront.formatting import formatter, sentence
from storefront.forms import read_form, text
from storefront.pages.cart import CartPages
from storefront.site import Site


def new_idempotency_key() -> str:
    """One per rendering of the form: a double-submit of that form is the same checkout, a re-render a new one."""
    return "chk_" + secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class MethodView:
    id: str
    label: str
    description: str
    price: str
    free: bool
    # what the summary shows with this method, so a small script can update it without a round trip
    shipping: str
    tax: str
    total: str


class CheckoutPages:
    def __init__(self, site: Site, carts: CartPages) -> None:
        self.site = site
        self.store = site.store
        self.carts = carts

    async def show(self, request: Request) -> Response:
        cart = await self.carts.current(request)
        if cart is None or not cart.lines:
            return self.site.redirect(request, "/cart")
        return await self.render(request, cart, CheckoutForm(), key=new_idempotency_key())

    async def render(
        self,
        request: Request,
        cart: Cart,
        form: CheckoutForm,
        *,
        key: str,
        errors: dict[str, str] | None = None,
        message: str = "",
        payment_error: str = "",
        status_code: int = 200,
    ) -> Response:
        try:
            priced = await self.store.carts.price(cart, form.values["shipping_method"] or None)
        except InvalidRequest:
            priced = await self.store.carts.price(cart)
        market = priced.market
        fmt = formatter(market.locale)
        subtotal = priced.totals.subtotal
        methods = []
        for method in priced.shipping_methods:
            cost = shipping_price(method, subtotal) or Money.zero(subtotal.currency)
            totals = compute_totals(subtotal, cost, market)
            methods.append(
                MethodView(
                    id=method.id,
                    label=method.label,
                    description=method.description,
                    price="Free" if cost.amount == 0 else fmt.money(cost),
                    free=cost.amount == 0,
                    shipping="Free" if cost.amount == 0 else fmt.money(cost),
                    tax=fmt.money(totals.tax),
                    total=fmt.money(totals.total),
                )
            )
        values = dict(form.values)
        if priced.shipping_method is not None:
            values["shipping_method"] = priced.shipping_method.id
        codes = list(market.countries) or sorted({c for m in self.store.markets.markets for c in m.countries})
        values["country"] = values["country"].upper() or (codes[0] if codes else "")
        if values["country"] and values["country"] not in codes and len(values["country"]) == 2:
            codes.append(values["country"])
        return await self.site.private(
            request,
            "checkout.html",
            market=market,
            status_code=status_code,
            title="Checkout",
            priced=priced,
            methods=methods,
            countries=[(code, fmt.country(code)) for code in codes],
            values=values,
            errors=errors or {},
            message=message,
            payment_error=payment_error,
            csrf_token=self.site.csrf.for_cart(cart.id),
            idempotency_key=key,
            test_mode=self.store.connectors.payments.vendor == "builtin",
            test_cards_json=test_cards_json(),
            test_tokens=TEST_TOKEN_CHOICES,
            test_card_hints=TEST_CARD_HINTS,
        )

    async def submit(self, request: Request) -> Response:
        data = await read_form(request)
        cart_id = self.site.cart_cookie.read(request)
        if cart_id is None or not self.site.csrf.valid(cart_id, data.get(CSRF_FIELD)):
            return await self.site.forbidden(request, "this checkout form was not issued for your cart")
        form = CheckoutForm.read(data)
        key = text(data, IDEMPOTENCY_FIELD, limit=255)
        try:
            body = CheckoutBody.model_validate(form.payload(cart_id))
        except ValidationError as exc:
            return await self._again(request, cart_id, form, 422, errors=validation_errors(exc))
        try:
            result = await self.store.checkout.checkout(body, key)
        except ResourceNotFound:
            return self.site.redirect(request, "/cart")
        except PaymentFailed as exc:
            return await self._again(request, cart_id, form, 402, payment_error=sentence(exc.detail))
        except AlreadyOrdered as exc:
            # An earlier attempt of this shopper went through after all: show that order, never a second one.
            return self._to_order(request, str(exc.extra["order_id"]), str(exc.extra["order_token"]))
        except OutOfStockConflict as exc:
            message = f"{sentence(exc.detail)} Review your cart: we kept everything that is still available."
            return await self._again(request, cart_id, form, 409, message=message)
        except Conflict as exc:
            return await self._again(request, cart_id, form, 409, message=sentence(exc.detail))
        except InvalidRequest as exc:
            errors = domain_field_errors(exc.fields)
            message = "" if errors else sentence(exc.detail)
            return await self._again(request, cart_id, form, 422, errors=errors, message=message)
        except TryAgain as exc:
            # The outcome is unknown: the same key lets the next submit resume instead of charging twice.
            return await self._again(request, cart_id, form, 503, message=sentence(exc.detail), key=key)
        response = self._to_order(request, result.order.id, result.order_token)
        self.site.segment_cookie.after_order(request, response, result.order.id)  # a returning shopper now
        return response

    def _to_order(self, request: Request, order_id: str, token: str) -> Response:
        response = self.site.redirect(request, f"/orders/{quote(order_id, safe='')}?{urlencode({'token': token})}")
        self.site.cart_cookie.clear(response)
        return response

    async def _again(
        self,
        request: Request,
        cart_id: str,
        form: CheckoutForm,
        status_code: int,
        *,
        errors: dict[str, str] | None = None,
        message: str = "",
        payment_error: str = "",
        key: str | None = None,
    ) -> Response:
        """The form again with what went wrong, the shopper's values kept, and (usually) a fresh attempt key."""
        try:
            cart = await self.store.carts.get(cart_id)
        except ResourceNotFound:
            return self.site.redirect(request, "/cart")
        if cart.status == "completed":
            return await self.site.problem(
                request, 409, "Already ordered", "This cart has already been checked out. Start a new one any time."
            )
        if not cart.lines:
            return self.site.redirect(request, "/cart")
        form.values["payment_token"] = form.values["payment_token"] if status_code != 402 else ""
        return await self.render(
            request,
            cart,
            form,
            key=key or new_idempotency_key(),
            errors=errors,
            message=message,
            payment_error=payment_error,
            status_code=status_code,
        )

    async def order(self, request: Request) -> Response:
        try:
            order = await self.store.checkout.get_order(
                request.path_params["order_id"], request.query_params.get("token")
            )
        except Forbidden:
            return await self.site.problem(
                request,
                403,
                "This order link is incomplete",
                "Order pages need the secret link from your confirmation. Open the link you were given after"
                " checkout, or contact us with your order number.",
            )
        except ResourceNotFound:
            return await self.site.not_found(request, what="order", shared=False)
        market = self.store.markets.get(order.market) or self.site.market(request)
        methods = {m.id: m.label for m in self.store.settings.shipping_methods}
        response = await self.site.private(
            request,
            "order.html",
            market=market,
            title=f"Order {order.id}",
            order=order,
            shipping_label=methods.get(order.shipping_method, order.shipping_method),
            tax_included=market.tax.inclusive,
            tax_label=market.tax.label,
        )
        # The URL carries the order token: keep it out of Referer headers to anyone.
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
