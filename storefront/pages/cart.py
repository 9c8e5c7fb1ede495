"""The shopper's cart: the page, the forms that edit it, and the header badge fragment. All private."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from origin import Cart, Conflict, InvalidRequest, Market, Money, PricedCart, ResourceNotFound
from storefront.csrf import CSRF_FIELD
from storefront.formatting import sentence
from storefront.forms import QUANTITY_MESSAGE, parse_id, parse_quantity, read_form, text
from storefront.pages.product import ProductPages
from storefront.site import HTML, Site

MAX_QUANTITY_MESSAGE = "That is more than we can put in one cart: at most 99 of one item."


@dataclass(frozen=True, slots=True)
class FreeShipping:
    """How far the cart is from free shipping, for the "add $x more" nudge."""

    remaining: Money | None
    threshold: Money | None


def free_shipping(priced: PricedCart) -> FreeShipping:
    method = priced.shipping_method
    currency = priced.market.currency
    threshold = method.free_over.get(currency) if method is not None else None
    if threshold is None:
        return FreeShipping(None, None)
    remaining = threshold - priced.totals.subtotal.amount
    return FreeShipping(
        Money(amount=remaining, currency=currency) if remaining > 0 else None,
        Money(amount=threshold, currency=currency),
    )


class CartPages:
    def __init__(self, site: Site, products: ProductPages) -> None:
        self.site = site
        self.store = site.store
        self.products = products

    async def current(self, request: Request) -> Cart | None:
        """The cart named by the cookie, if it still exists; checked-out carts count as none."""
        cart_id = self.site.cart_cookie.read(request)
        if cart_id is None:
            return None
        try:
            cart = await self.store.carts.get(cart_id)
        except ResourceNotFound:
            return None
        return None if cart.status == "completed" else cart

    async def render(
        self,
        request: Request,
        cart: Cart | None,
        *,
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        quantities: dict[str, str] | None = None,
        message: str = "",
    ) -> Response:
        priced = await self.store.carts.price(cart) if cart is not None else None
        market = priced.market if priced is not None else self.site.market(request)
        return await self.site.private(
            request,
            "cart.html",
            market=market,
            status_code=status_code,
            title="Your cart",
            priced=priced if priced is not None and priced.lines else None,
            free_shipping=free_shipping(priced) if priced is not None else FreeShipping(None, None),
            csrf_token=self.site.csrf.for_cart(cart.id) if cart is not None else "",
            errors=errors or {},
            quantities=quantities or {},
            message=message,
        )

    async def show(self, request: Request) -> Response:
        return await self.render(request, await self.current(request))

    async def _cart_for_adding(self, request: Request, market: Market) -> tuple[Cart, bool]:
        cart = await self.current(request)
        if cart is not None and cart.status == "open":
            return cart, False
        return await self.store.carts.create(market), True

    async def add(self, request: Request) -> Response:
        form = await read_form(request)
        market = self.site.market(request)
        handle, variant_raw, quantity_raw = text(form, "handle"), text(form, "variant_id"), text(form, "quantity")
        variant_id, quantity = parse_id(variant_raw), parse_quantity(quantity_raw)
        errors: dict[str, str] = {}
        if variant_id is None:
            errors["variant_id"] = "Choose an option."
        if quantity is None:
            errors["quantity"] = QUANTITY_MESSAGE
        if variant_id is None or quantity is None:
            return await self._product_error(request, market, handle, variant_raw, quantity_raw, errors, 422)
        cart, created = await self._cart_for_adding(request, market)
        try:
            cart = await self.store.carts.add_line(cart.id, variant_id, quantity)
        except InvalidRequest:
            response = await self._product_error(
                request, market, handle, variant_raw, quantity_raw, {"quantity": MAX_QUANTITY_MESSAGE}, 422
            )
        except ResourceNotFound:
            errors = {"variant_id": "This option is no longer available; choose another."}
            response = await self._product_error(request, market, handle, variant_raw, quantity_raw, errors, 422)
        except Conflict as exc:
            errors = {"quantity": sentence(exc.detail)}
            response = await self._product_error(request, market, handle, variant_raw, quantity_raw, errors, 409)
        else:
            response = self.site.redirect(request, "/cart")
            created = True  # refresh the cookie's lifetime with every addition
        if created:
            self.site.cart_cookie.write(response, cart.id)
        return response

    async def _product_error(
        self,
        request: Request,
        market: Market,
        handle: str,
        variant: str,
        quantity: str,
        errors: dict[str, str],
        status_code: int,
    ) -> Response:
        if not handle:
            handle = await self._handle_of(variant, market)
        try:
            product = await self.store.catalog.product(handle, market)
        except ResourceNotFound:
            return await self.site.not_found(request, what="product", shared=False)
        return await self.products.with_errors(
            request, market, product, variant=variant, quantity=quantity, errors=errors, status_code=status_code
        )

    async def _handle_of(self, variant: str, market: Market) -> str:
        """A form without the product handle (a hand-made one) still gets its product page back."""
        variant_id = parse_id(variant)
        if variant_id is None:
            return ""
        quotes = await self.store.connectors.commerce.quote_variants([variant_id], price_list=market.price_list)
        quote = quotes.get(variant_id)
        return quote.product_handle if quote is not None else ""

    async def _checked(self, request: Request) -> tuple[Cart | None, str, Response | None]:
        """The cart and line of a cart form, or the answer when the form's synchronizer token is wrong."""
        form = await read_form(request)
        cart_id = self.site.cart_cookie.read(request)
        if not self.site.csrf.valid(cart_id, form.get(CSRF_FIELD)):
            return None, "", await self.site.forbidden(request, "this cart form was not issued for your cart")
        return await self.current(request), text(form, "quantity"), None

    async def update(self, request: Request) -> Response:
        line_id = request.path_params["line_id"]
        cart, quantity_raw, rejected = await self._checked(request)
        if rejected is not None:
            return rejected
        if cart is None:
            return self.site.redirect(request, "/cart")
        quantity = parse_quantity(quantity_raw)
        if quantity is None:
            return await self.render(
                request, cart, status_code=422, errors={line_id: QUANTITY_MESSAGE}, quantities={line_id: quantity_raw}
            )
        try:
            await self.store.carts.set_quantity(cart.id, line_id, quantity)
        except ResourceNotFound:
            return self.site.redirect(request, "/cart")
        except Conflict as exc:
            return await self.render(
                request,
                cart,
                status_code=409,
                errors={line_id: sentence(exc.detail)} if exc.extra.get("field") == "quantity" else {},
                quantities={line_id: quantity_raw},
                message="" if exc.extra.get("field") == "quantity" else sentence(exc.detail),
            )
        return self.site.redirect(request, "/cart")

    async def remove(self, request: Request) -> Response:
        cart, _, rejected = await self._checked(request)
        if rejected is not None:
            return rejected
        if cart is None:
            return self.site.redirect(request, "/cart")
        try:
            await self.store.carts.remove_line(cart.id, request.path_params["line_id"])
        except ResourceNotFound:
            pass  # already gone: the page the shopper sees next is right either way
        except Conflict as exc:
            return await self.render(request, cart, status_code=409, message=sentence(exc.detail))
        return self.site.redirect(request, "/cart")

    async def badge(self, request: Request) -> Response:
        """The header's cart count; the edge stitches it into shared pages, or a small script fetches it."""
        cart = await self.current(request)
        count = sum(line.quantity for line in cart.lines) if cart is not None else 0
        body = self.site.render("fragments/cart_badge.html", {"count": count})
        return self.store.responses.private(body, media_type=HTML)
