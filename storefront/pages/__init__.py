"""Page handlers, one module per area of the shop; `storefront.app` maps URLs to them."""
