"""Deterministic demo catalog for the built-in backend: "Summit & Trail", an outdoor and apparel store.

The same `products` and `seed` always give byte-identical rows, so demos, benchmarks and screenshots are
reproducible. Prices are integer minor units; EUR and GBP are derived from USD with integer arithmetic only.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

STORE_NAME = "Summit & Trail"
# Timestamps are spread over the two years before this instant, not before now, so reseeding is reproducible.
FIXED_EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z
_SPREAD_SECONDS = 2 * 365 * 86_400
MAX_VARIANTS = 12
PRICE_LISTS: tuple[tuple[str, str], ...] = (("usd", "USD"), ("eur", "EUR"), ("gbp", "GBP"))
# Children before parents, so foreign keys hold while deleting; orders and order lines are never touched.
_CATALOG_TABLES = (
    "inventory",
    "prices",
    "product_prices",
    "variants",
    "product_options",
    "product_images",
    "products",
    "categories",
    "price_lists",
)
_VIEWS = ("front view", "side view", "detail view")


@dataclass(frozen=True, slots=True)
class SeedSummary:
    categories: int
    products: int
    variants: int


@dataclass(frozen=True, slots=True)
class _Option:
    name: str
    values: tuple[str, ...]
    low: int
    high: int
    contiguous: bool  # sizes come in runs (S-XL), colours are picked freely
    surcharge: Mapping[str, int] = field(default_factory=dict)  # value -> percent on top of the base price


@dataclass(frozen=True, slots=True)
class _Leaf:
    name: str
    description: str
    kind: str  # an images.PRODUCT_KINDS member
    nouns: tuple[str, ...]
    qualifiers: tuple[str, ...]
    options: tuple[_Option, ...]
    dollars: tuple[int, int]
    pitches: tuple[str, ...]
    materials: tuple[str, ...]
    features: tuple[str, ...]
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Brand:
    name: str
    code: str
    promise: str


@dataclass(slots=True)
class _Plan:
    """What the child tables need to know about one product, kept small because there may be 100k of them."""

    id: int
    first_variant_id: int
    title: str
    sku_prefix: str
    options: tuple[tuple[_Option, tuple[str, ...]], ...]
    colors: tuple[str, ...]
    kind: str
    base_cents: int
    ending: int  # 1 for x.99 pricing, 0 for round x.00 pricing
    sale_percent: int
    images: int

    @property
    def variant_count(self) -> int:
        count = 1
        for _, values in self.options:
            count *= len(values)
        return count


COLORS: dict[str, str] = {
    "Forest Green": "2f5d3a",
    "Moss": "6f7d3c",
    "Glacier Blue": "5b8db8",
    "Slate Blue": "3f5873",
    "Navy": "1f2f4d",
    "Ember Orange": "d9652b",
    "Rust": "a4472b",
    "Burgundy": "6e2433",
    "Sunflower": "e0a82e",
    "Sand": "c8b48a",
    "Charcoal": "3a3d40",
    "Black": "1c1c1e",
    "Storm Grey": "7a8088",
    "Teal": "2a7c78",
    "Plum": "5d3a5e",
    "Sky": "8cc4e8",
    "Coral": "e06c5a",
    "Bone": "e6dfcf",
}
_COLOR_NAMES = tuple(COLORS)

_BRANDS = (
    _Brand("Ridgeline", "RDG", "Ridgeline repairs what it makes for as long as you own it."),
    _Brand("Northwall", "NWL", "Northwall tests every design on winter routes in the Canadian Rockies."),
    _Brand("Tamarack", "TMK", "Tamarack uses bluesign-approved fabrics throughout the line."),
    _Brand("Alpenglow", "APG", "Alpenglow gives one percent of every sale to trail maintenance crews."),
    _Brand("Sawtooth", "SWT", "Sawtooth builds gear to be patched in the field, not replaced."),
    _Brand("Kettle River", "KTR", "Kettle River has made honest, overbuilt gear since 1978."),
    _Brand("Bluebird", "BLB", "Bluebird designs for the days when the sky finally clears."),
    _Brand("Highline", "HGL", "Highline keeps the weight down without cutting corners on durability."),
    _Brand("Cairnwood", "CRW", "Cairnwood sources its down and wool from audited, traceable farms."),
    _Brand("Fjell", "FJL", "Fjell takes its cue from Scandinavian hut-to-hut trekking."),
)
_MODELS = (
    "Alpine", "Summit", "Granite", "Cascade", "Boulder", "Tundra", "Sierra", "Canyon", "Talus", "Scree",
    "Cirque", "Couloir", "Moraine", "Basin", "Meridian", "Aspen", "Juniper", "Cedar", "Larch", "Ember",
    "Nimbus", "Stratus", "Zephyr", "Switchback", "Traverse", "Headwall", "Glacier", "Kestrel", "Raven", "Lynx",
    "Pika", "Condor", "Vista", "Horizon", "Trailhead", "Solstice", "Tarn", "Saddle", "Bivy", "Arete",
)  # fmt: skip

_SIZES = _Option("Size", ("XS", "S", "M", "L", "XL", "XXL"), 3, 6, True, {"XXL": 10})
_SHOE_SIZES = _Option("Size", tuple(f"US {n}" for n in range(7, 14)), 4, 7, True, {"US 13": 5})
_SMALL_SIZES = _Option("Size", ("S", "M", "L", "XL"), 2, 4, True)
_COLOR = _Option("Color", _COLOR_NAMES, 1, 3, False)
_FEW_COLORS = _Option("Color", _COLOR_NAMES, 1, 2, False)
_MANY_COLORS = _Option("Color", _COLOR_NAMES, 1, 4, False)
_PACK_VOLUME = _Option("Volume", ("50L", "65L", "80L"), 1, 3, True, {"65L": 8, "80L": 15})
_DUFFEL_VOLUME = _Option("Volume", ("40L", "60L", "90L", "120L"), 1, 3, True, {"60L": 10, "90L": 20, "120L": 30})
_TENT_CAPACITY = _Option("Capacity", ("1P", "2P", "3P", "4P"), 1, 3, True, {"2P": 20, "3P": 40, "4P": 65})
_BAG_LENGTH = _Option("Length", ("Regular", "Long"), 1, 2, True, {"Long": 8})
_PAD_LENGTH = _Option("Length", ("Regular", "Long", "Long Wide"), 1, 3, True, {"Long": 10, "Long Wide": 20})
_BOTTLE_CAPACITY = _Option("Capacity", ("500 mL", "750 mL", "1 L"), 1, 3, True, {"750 mL": 10, "1 L": 20})

_APPAREL = (_SIZES, _COLOR)
_FOOTWEAR = (_SHOE_SIZES, _FEW_COLORS)
_SHELL = ("a three-layer recycled nylon shell with fully taped seams", "a breathable waterproof membrane")

_TREE: tuple[tuple[str, str, tuple[_Leaf, ...]], ...] = (
    ("Jackets & Coats", "Shells, insulation and everything in between for weather that changes its mind.", (
        _Leaf("Rain Jackets", "Waterproof, breathable shells that pack small and shrug off all-day rain.", "jacket",
              ("Rain Jacket", "Shell Jacket", "Storm Shell", "Anorak"), ("", "", "3L", "Pro", "Lite"), _APPAREL,
              (129, 449), ("built for all-day storms above treeline", "a packable answer to surprise showers"),
              ("uses " + _SHELL[0], "pairs " + _SHELL[1] + " with a soft, quiet face fabric"),
              ("Pit zips dump heat on steep climbs", "The helmet-compatible hood adjusts with one hand",
               "It stuffs into its own chest pocket"), ("waterproof", "packable", "hooded")),
        _Leaf("Down Jackets", "Warm, light, compressible down for cold belays and frosty camps.", "jacket",
              ("Down Jacket", "Down Hoody", "Puffer", "Parka"), ("", "", "800", "Ultralight"), _APPAREL,
              (179, 449), ("the warmest layer in the pack for its weight", "made for cold mornings in camp"),
              ("is filled with responsibly sourced 800-fill goose down", "uses hydrophobic down under a ripstop face"),
              ("Baffles are offset to stop cold spots", "Synthetic insulation at the shoulders handles damp"),
              ("insulated", "down", "packable")),
        _Leaf("Softshell Jackets", "Stretchy, breathable protection for fast days and windy ridges.", "jacket",
              ("Softshell Jacket", "Softshell Hoody", "Wind Jacket"), ("", "Stretch", "Hybrid"), _APPAREL,
              (119, 279), ("cut for moving fast on windy ridges", "the layer you forget you are wearing"),
              ("uses a double-weave stretch fabric with a DWR finish",
               "combines a windproof front with airy back panels"),
              ("Articulated elbows keep the sleeves in place", "A low-profile hood fits under a helmet"),
              ("stretch", "windproof", "breathable")),
        _Leaf("Fleece Jackets", "Cozy grid and high-loft fleece that keeps breathing while you climb.", "jacket",
              ("Fleece Jacket", "Fleece Pullover", "Grid Fleece Hoody"), ("", "Heavyweight", "Lite"), _APPAREL,
              (69, 179), ("a midlayer that breathes on the uphill", "the go-to layer for cool evenings"),
              ("is knit from recycled polyester grid fleece", "uses a high-loft fleece that traps warmth"),
              ("Thumb loops seal out drafts", "Flatlock seams sit comfortably under a pack"),
              ("fleece", "midlayer", "recycled")),
    )),
    ("Tops", "Base layers, tees and shirts that manage sweat and sun on the trail.", (
        _Leaf("Base Layers", "Merino and synthetic base layers that regulate temperature all day.", "shirt",
              ("Base Layer Crew", "Merino Crew", "Zip Neck", "Base Layer Tee"), ("", "Midweight", "Lightweight"),
              _APPAREL, (39, 119), ("the foundation of any layering system", "comfortable for days between washes"),
              ("is knit from soft, odor-resistant merino wool", "blends merino with nylon for durability"),
              ("Offset shoulder seams stay clear of pack straps", "A longer hem stays tucked in"),
              ("merino", "base-layer", "odor-resistant")),
        _Leaf("T-Shirts", "Soft, quick-drying tees for trail days and town days.", "shirt",
              ("Tee", "Graphic Tee", "Pocket Tee", "Trail Tee"), ("", "", "Organic"), _APPAREL,
              (25, 49), ("an easy tee for trail days and town days", "a soft everyday shirt with outdoor roots"),
              ("is made from organic cotton and recycled polyester", "uses a quick-drying jersey knit"),
              ("The relaxed fit layers easily", "Printed with water-based inks"), ("cotton", "everyday", "tee")),
        _Leaf("Hiking Shirts", "Breathable, sun-protective shirts built for long days outside.", "shirt",
              ("Hiking Shirt", "Sun Shirt", "Trail Shirt", "Button-Up"), ("", "Long-Sleeve", "Vented"), _APPAREL,
              (49, 99), ("made for long, sunny days on exposed trails", "a trail shirt that looks at home in town"),
              ("uses a UPF 50 nylon weave that dries in minutes", "has a mesh-lined back yoke for airflow"),
              ("Roll-up sleeve tabs adapt to the afternoon heat", "A zip chest pocket holds a phone"),
              ("upf-50", "quick-dry", "vented")),
        _Leaf("Hoodies", "Warm, relaxed hoodies for camp, van life and chilly mornings.", "shirt",
              ("Hoodie", "Pullover Hoodie", "Zip Hoodie"), ("", "Heavyweight"), _APPAREL,
              (59, 129), ("the hoodie you reach for at every campsite", "warm enough for frosty van mornings"),
              ("is made from brushed organic cotton fleece", "uses a midweight French terry knit"),
              ("A lined hood blocks the wind", "The kangaroo pocket warms cold hands"), ("cotton", "camp", "cozy")),
    )),
    ("Bottoms", "Pants, shorts and tights that move with you from trailhead to summit.", (
        _Leaf("Hiking Pants", "Durable, stretchy pants for scrambling, trekking and travel.", "pants",
              ("Hiking Pant", "Trek Pant", "Convertible Pant", "Climbing Pant"), ("", "Stretch", "Lined"), _APPAREL,
              (69, 149), ("built for scrambles, talus and long approaches", "a trekking pant that travels well"),
              ("uses a four-way stretch nylon with a DWR finish", "is cut from abrasion-resistant softshell"),
              ("A gusseted crotch frees up high steps", "Zippered thigh pockets keep essentials secure"),
              ("stretch", "durable", "trekking")),
        _Leaf("Shorts", "Light, quick-drying shorts for hot trails and lake swims.", "pants",
              ("Trail Short", "Hiking Short", "Running Short", "Cargo Short"), ("", "Stretch"), _APPAREL,
              (45, 89), ("made for hot trails and lakeside lunches", "a light short for summer miles"),
              ("uses a quick-drying ripstop nylon", "is cut from a light stretch woven fabric"),
              ("A built-in liner prevents chafing", "The waistband stays put under a hip belt"),
              ("quick-dry", "summer", "lightweight")),
        _Leaf("Leggings & Tights", "Supportive tights for running, climbing and cold-weather layering.", "pants",
              ("Trail Tight", "Legging", "Thermal Tight"), ("", "High-Rise"), _APPAREL,
              (55, 110), ("made for trail running and cold-weather layering", "a supportive tight for every season"),
              ("is knit from a brushed, moisture-wicking stretch fabric", "blends recycled nylon with elastane"),
              ("Side pockets hold a phone without bounce", "Flat seams prevent chafing"),
              ("stretch", "running", "thermal")),
    )),
    ("Footwear", "Boots, trail runners and sandals with grip for every surface.", (
        _Leaf("Hiking Boots", "Supportive boots with sticky rubber for rough trails and heavy loads.", "boot",
              ("Hiking Boot", "Mid Boot", "Backpacking Boot", "Trek Boot"), ("", "Waterproof", "Leather"), _FOOTWEAR,
              (149, 299), ("built for rocky trails and heavy loads", "supportive enough for multi-day treks"),
              ("pairs a nubuck leather upper with a waterproof membrane", "uses a Vibram-style lugged rubber outsole"),
              ("A TPU shank adds stability underfoot", "The rubber toe cap fends off rocks"),
              ("waterproof", "leather", "backpacking")),
        _Leaf("Trail Runners", "Light, grippy shoes for fast miles on technical trails.", "shoe",
              ("Trail Runner", "Trail Shoe", "Speed Trainer"), ("", "Waterproof", "Pro"), _FOOTWEAR,
              (109, 179), ("made for fast miles on technical terrain", "a nimble shoe for long trail days"),
              ("uses an engineered mesh upper over a responsive foam midsole", "has 5 mm lugs of sticky rubber"),
              ("A rock plate protects against sharp stones", "Quick laces tuck into the tongue"),
              ("running", "lightweight", "grippy")),
        _Leaf("Sandals", "Sport sandals and camp slides for river crossings and rest days.", "shoe",
              ("Sandal", "Sport Sandal", "Camp Slide"), ("", "Strap"), _FOOTWEAR,
              (49, 119), ("made for river crossings and rest days", "a sandal that can handle real trails"),
              ("uses quick-drying webbing straps on a contoured footbed", "has a grippy, non-marking outsole"),
              ("Straps adjust in three places", "The footbed resists odor"), ("water", "summer", "camp")),
        _Leaf("Winter Boots", "Insulated, waterproof boots for snowshoeing and winter walks.", "boot",
              ("Winter Boot", "Snow Boot", "Insulated Boot"), ("", "Waterproof", "Tall"), _FOOTWEAR,
              (139, 259), ("made for snowshoeing and frozen trails", "warm and dry through deep snow"),
              ("is insulated with 200 g synthetic fill", "pairs a waterproof leather upper with a cold-grip sole"),
              ("A gaiter ring holds snow gaiters in place", "The removable liner dries overnight"),
              ("insulated", "waterproof", "winter")),
    )),
    ("Packs & Bags", "Daypacks, backpacking packs and duffels that carry comfortably.", (
        _Leaf("Daypacks", "Comfortable daypacks for summit pushes and everyday carry.", "pack",
              ("Daypack", "Pack", "Hydration Pack"), ("18L", "22L", "28L", "32L"), (_MANY_COLORS,),
              (59, 179), ("sized for summit pushes and long day hikes", "a daypack that works on the commute too"),
              ("is made from recycled ripstop with a water-resistant coating", "has a ventilated mesh back panel"),
              ("A hydration sleeve takes a 3 L reservoir", "Stretch side pockets hold two bottles"),
              ("daypack", "hydration", "recycled")),
        _Leaf("Backpacking Packs", "Load-carrying packs for multi-day trips and thru-hikes.", "pack",
              ("Backpack", "Trekking Pack", "Expedition Pack"), ("", "UL"), (_FEW_COLORS, _PACK_VOLUME),
              (199, 379), ("built for multi-day trips and thru-hikes", "carries heavy loads without complaint"),
              ("uses a high-tenacity nylon body on an aluminum frame", "has an adjustable torso and a padded hip belt"),
              ("The lid converts into a summit pack", "Compression straps stabilize half-empty loads"),
              ("backpacking", "multi-day", "adjustable")),
        _Leaf("Duffels", "Burly haul bags for expeditions, road trips and gear storage.", "pack",
              ("Duffel", "Expedition Duffel", "Travel Duffel"), ("",), (_COLOR, _DUFFEL_VOLUME),
              (99, 199), ("built for expeditions and road trips", "tough enough to be thrown on a bush plane"),
              ("is made from a laminated, water-resistant tarpaulin", "uses a burly 840D nylon body"),
              ("Stowable shoulder straps turn it into a backpack", "A large D-zip opening makes packing easy"),
              ("travel", "expedition", "water-resistant")),
        _Leaf("Hip Packs", "Hip packs and slings for quick outings and bike rides.", "pack",
              ("Hip Pack", "Waist Pack", "Sling"), ("", "3L", "5L"), (_MANY_COLORS,),
              (29, 69), ("made for quick outings and bike rides", "keeps snacks and a phone within reach"),
              ("uses a recycled ripstop shell", "has a breathable mesh back"), ("It carries two ways",),
              ("hip-pack", "everyday", "recycled")),
    )),
    ("Camping Gear", "Shelter, sleep and hydration for nights under the stars.", (
        _Leaf("Tents", "Backpacking and basecamp tents that stand up to wind and rain.", "tent",
              ("Tent", "Backpacking Tent", "Dome Tent", "Trekking Pole Tent"), ("", "UL"),
              (_TENT_CAPACITY, _FEW_COLORS), (199, 699),
              ("built for windy ridges and rainy valleys", "a light shelter for long trips"),
              ("uses a silicone-coated ripstop fly over a mesh inner", "is held up by a color-coded aluminum frame"),
              ("Two doors mean no crawling over your partner", "It pitches fly-first to keep the inner dry"),
              ("shelter", "lightweight", "3-season")),
        _Leaf("Sleeping Bags", "Down and synthetic bags rated for every season.", "sleeping-bag",
              ("Sleeping Bag", "Down Sleeping Bag", "Quilt", "Synthetic Sleeping Bag"), ("0", "15", "20", "30", "40"),
              (_BAG_LENGTH, _FEW_COLORS), (149, 499),
              ("rated for cold nights in the mountains", "warm, light and quick to pack"),
              ("is filled with hydrophobic 850-fill down", "uses a continuous-filament synthetic insulation"),
              ("A draft collar keeps the warmth in", "The footbox is shaped for natural foot position"),
              ("warm", "sleep", "3-season")),
        _Leaf("Sleeping Pads", "Insulated air and foam pads for a warmer, softer night.", "sleeping-pad",
              ("Sleeping Pad", "Air Pad", "Camp Pad", "Insulated Pad"), ("", "UL"), (_PAD_LENGTH, _FEW_COLORS),
              (59, 199), ("made for a warm, quiet night on cold ground", "packs down to the size of a water bottle"),
              ("uses a reflective insulating core", "is built from a durable, welded ripstop"),
              ("A high-flow valve inflates it in a few breaths", "The baffles are shaped to stop you rolling off"),
              ("sleep", "insulated", "packable")),
        _Leaf("Bottles & Hydration", "Insulated bottles and flasks that keep drinks hot or cold.", "bottle",
              ("Water Bottle", "Insulated Bottle", "Trail Flask"), ("",), (_BOTTLE_CAPACITY, _FEW_COLORS),
              (19, 45), ("keeps water cold through a hot day", "a tough bottle for trail and desk"),
              ("is made from double-walled stainless steel", "uses a BPA-free, dishwasher-safe body"),
              ("The leakproof cap carries on a finger", "A wide mouth takes ice cubes"),
              ("hydration", "insulated", "bpa-free")),
    )),
    ("Accessories", "Hats, gloves and socks: the small things that make a big difference.", (
        _Leaf("Hats & Beanies", "Beanies, sun hats and caps for every season.", "hat",
              ("Beanie", "Sun Hat", "Trucker Cap", "Bucket Hat"), ("", "Merino"), (_MANY_COLORS,),
              (19, 45), ("made for cold summits and sunny trails", "an easy hat for every season"),
              ("is knit from soft merino wool", "uses a quick-drying UPF 50 fabric"),
              ("A sweatband keeps moisture out of your eyes",), ("hat", "warm", "upf-50")),
        _Leaf("Gloves & Mittens", "Liners, shells and mittens for cold hands and rough rock.", "gloves",
              ("Glove", "Mitten", "Liner Glove", "Shell Glove"), ("", "Insulated", "Touchscreen"),
              (_SMALL_SIZES, _COLOR), (25, 89), ("made for cold hands on long belays", "a dexterous glove for winter"),
              ("pairs a goat leather palm with a stretch softshell back", "uses a windproof fleece"),
              ("Touchscreen fingertips work with a phone", "A wrist leash keeps it from blowing away"),
              ("gloves", "winter", "warm")),
        _Leaf("Socks", "Cushioned merino socks that stay comfortable for miles.", "socks",
              ("Hiking Sock", "Crew Sock", "Trail Sock", "Ski Sock"), ("", "Cushioned", "Light"),
              (_SMALL_SIZES, _COLOR), (15, 29), ("made for long miles in boots", "comfortable from trailhead to camp"),
              ("is knit from merino wool with nylon for durability", "uses a seamless toe over targeted cushioning"),
              ("Arch support keeps it from slipping", "It carries a no-questions lifetime guarantee"),
              ("merino", "socks", "cushioned")),
    )),
)  # fmt: skip

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    return _NON_SLUG.sub("-", text.lower()).strip("-")


def _category_rows() -> tuple[list[tuple[int, int | None, str, str, str, int]], list[tuple[int, _Leaf, str]]]:
    """Top-level categories first (ids 1..n), so every parent row exists before its children are inserted."""
    rows: list[tuple[int, int | None, str, str, str, int]] = []
    leaves: list[tuple[int, _Leaf, str]] = []
    for position, (name, description, _) in enumerate(_TREE):
        rows.append((position + 1, None, slugify(name), name, description, position))
    next_id = len(_TREE) + 1
    for parent_position, (parent_name, _, children) in enumerate(_TREE):
        for position, leaf in enumerate(children):
            rows.append((next_id, parent_position + 1, slugify(leaf.name), leaf.name, leaf.description, position))
            leaves.append((next_id, leaf, slugify(parent_name)))
            next_id += 1
    return rows, leaves


def _snap(cents: int, ending: int) -> int:
    """Round to a whole unit (a multiple of 5 from 20 up) and subtract the ending: 12999, 12995 or 13000."""
    units = max(1, (cents + 50) // 100)
    if units >= 20:
        units = (units + 2) // 5 * 5
    return units * 100 - ending


def _choose_values(rng: random.Random, option: _Option, room: int) -> tuple[str, ...]:
    high = max(1, min(option.high, room))
    count = rng.randint(min(option.low, high), high)
    if option.contiguous:
        start = rng.randrange(len(option.values) - count + 1)
        return option.values[start : start + count]
    return tuple(rng.sample(option.values, count))


def _product_rows(
    rng: random.Random, count: int, leaves: list[tuple[int, _Leaf, str]], plans: list[_Plan]
) -> Iterator[tuple[int, str, str, str, str, int, str, int, int, int]]:
    """Yield product rows and append each product's plan to `plans` for the child tables."""
    created = sorted(FIXED_EPOCH - rng.randrange(_SPREAD_SECONDS) for _ in range(count))  # higher ids are newer
    featured = list(range(1, count + 1))
    rng.shuffle(featured)
    order: list[tuple[int, _Leaf, str]] = []
    handles: set[str] = set()
    next_variant_id = 1
    for index in range(count):
        if not order:
            # Shuffled rounds over the leaves: every leaf gets products even in a 200-product catalog.
            order = list(leaves)
            rng.shuffle(order)
        category_id, leaf, parent_slug = order.pop()
        product_id = index + 1
        brand = rng.choice(_BRANDS)
        model = rng.choice(_MODELS)
        noun = rng.choice(leaf.nouns)
        qualifier = rng.choice(leaf.qualifiers)
        title = f"{brand.name} {model} {qualifier} {noun}" if qualifier else f"{brand.name} {model} {noun}"
        handle = slugify(title)
        if handle in handles:
            # Base handles never end in a digit (nouns are last), so an id suffix cannot collide with one.
            handle = f"{handle}-{product_id}"
        handles.add(handle)

        sentences = [
            f"The {model} {noun.lower()} is {rng.choice(leaf.pitches)}.",
            f"It {rng.choice(leaf.materials)}.",
        ]
        extras = rng.randrange(3)
        if extras:
            sentences.append(f"{rng.choice(leaf.features)}.")
        if extras == 2:
            sentences.append(brand.promise)

        chosen: list[tuple[_Option, tuple[str, ...]]] = []
        room = MAX_VARIANTS
        for option in leaf.options:
            values = _choose_values(rng, option, room)
            room //= len(values)
            chosen.append((option, values))
        colors = next(values for option, values in chosen if option.name == "Color")

        low, high = leaf.dollars
        sale_percent = rng.choice((15, 20, 25, 30, 40)) if rng.random() < 0.15 else 0
        tags = [slugify(leaf.name), parent_slug, slugify(brand.name), *rng.sample(leaf.tags, 2)]
        if sale_percent:
            tags.append("sale")
        plan = _Plan(
            id=product_id,
            first_variant_id=next_variant_id,
            title=title,
            sku_prefix=f"{brand.code}-{product_id:06d}",
            options=tuple(chosen),
            colors=colors,
            kind=leaf.kind,
            base_cents=rng.randint(low, high) * 100,
            ending=1 if rng.random() < 0.7 else 0,
            sale_percent=sale_percent,
            images=rng.randint(1, 3),
        )
        plans.append(plan)
        next_variant_id += plan.variant_count
        created_at = created[index]
        updated_at = min(FIXED_EPOCH, created_at + rng.randrange(120 * 86_400))
        yield (
            product_id,
            handle,
            title,
            " ".join(sentences),
            brand.name,
            category_id,
            ",".join(tags),
            featured[index],
            created_at,
            updated_at,
        )


def _option_rows(plans: list[_Plan]) -> Iterator[tuple[int, int, str, str]]:
    for plan in plans:
        for position, (option, values) in enumerate(plan.options):
            yield plan.id, position, option.name, json.dumps(list(values))


def _image_rows(plans: list[_Plan]) -> Iterator[tuple[int, int, str, str]]:
    for plan in plans:
        for position in range(plan.images):
            color = plan.colors[position] if position < len(plan.colors) else plan.colors[0]
            url = f"/media/products/{plan.kind}/{COLORS[color]}/{position + 1}.svg"
            yield plan.id, position, url, f"{plan.title} in {color}, {_VIEWS[position]}"


def _combinations(plan: _Plan) -> Iterator[tuple[int, tuple[str, ...]]]:
    """Each variant's id and option values, in variant position order."""
    variant_id = plan.first_variant_id
    for values in itertools.product(*(values for _, values in plan.options)):
        yield variant_id, values
        variant_id += 1


def _variant_rows(plans: list[_Plan]) -> Iterator[tuple[int, int, int, str, str, str]]:
    pieces: dict[tuple[str, str], str] = {}  # JSON "name": "value" fragments repeat endlessly; encode each once
    for plan in plans:
        names = [option.name for option, _ in plan.options]
        for position, (variant_id, values) in enumerate(_combinations(plan)):
            encoded = []
            for name, value in zip(names, values, strict=True):
                piece = pieces.get((name, value))
                if piece is None:
                    piece = pieces[name, value] = f"{json.dumps(name)}: {json.dumps(value)}"
                encoded.append(piece)
            yield (
                variant_id,
                plan.id,
                position,
                f"{plan.sku_prefix}-{position + 1:02d}",
                " / ".join(values),
                "{" + ", ".join(encoded) + "}",
            )


def _price_rows(plans: list[_Plan]) -> Iterator[tuple[int, str, int, int | None]]:
    for plan in plans:
        # x.99 stores price EUR at x.95 and GBP at x.99; round stores stay round in every currency.
        endings = (plan.ending, 5 * plan.ending, plan.ending)
        discount = 100 - plan.sale_percent
        for variant_id, values in _combinations(plan):
            percent = 100
            for (option, _), value in zip(plan.options, values, strict=True):
                percent += option.surcharge.get(value, 0)
            usd = _snap(plan.base_cents * percent // 100, endings[0])
            regulars = (usd, _snap(usd * 93 // 100, endings[1]), _snap(usd * 79 // 100, endings[2]))
            for (price_list, _), regular, ending in zip(PRICE_LISTS, regulars, endings, strict=True):
                if not plan.sale_percent:
                    yield variant_id, price_list, regular, None
                    continue
                amount = _snap(regular * discount // 100, ending)
                yield variant_id, price_list, amount if amount < regular else regular - 100, regular


def _inventory_rows(rng: random.Random, variants: int) -> Iterator[tuple[int, int, int]]:
    for variant_id in range(1, variants + 1):
        roll = rng.random()
        if roll < 0.08:
            on_hand = 0
        elif roll < 0.13:
            on_hand = rng.randint(1, 3)  # low stock, so "only N left" shows up in demos
        else:
            on_hand = rng.randint(4, 60)
        yield variant_id, on_hand, 0


def seed_catalog(conn: sqlite3.Connection, *, products: int, seed: int = 42) -> SeedSummary:
    """Replace the catalog (never orders) with `products` generated products, in one transaction.

    Expects `create_schema()` to have run and `conn` to be in autocommit mode (`schema.connect`).
    """
    if products < 0:
        raise ValueError(f"products must be >= 0, got {products}")
    rng = random.Random(seed)
    categories, leaves = _category_rows()
    plans: list[_Plan] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in _CATALOG_TABLES:
            conn.execute(f"DELETE FROM {table}")
        conn.executemany("INSERT INTO price_lists (id, currency) VALUES (?, ?)", PRICE_LISTS)
        conn.executemany(
            "INSERT INTO categories (id, parent_id, slug, name, description, position) VALUES (?, ?, ?, ?, ?, ?)",
            categories,
        )
        conn.executemany(
            "INSERT INTO products (id, handle, title, description, brand, category_id, tags, featured_rank,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _product_rows(rng, products, leaves, plans),
        )
        conn.executemany(
            "INSERT INTO product_options (product_id, position, name, vals) VALUES (?, ?, ?, ?)", _option_rows(plans)
        )
        conn.executemany(
            "INSERT INTO product_images (product_id, position, url, alt) VALUES (?, ?, ?, ?)", _image_rows(plans)
        )
        conn.executemany(
            "INSERT INTO variants (id, product_id, position, sku, title, options) VALUES (?, ?, ?, ?, ?, ?)",
            _variant_rows(plans),
        )
        conn.executemany(
            "INSERT INTO prices (variant_id, price_list, amount, compare_at) VALUES (?, ?, ?, ?)", _price_rows(plans)
        )
        # Derived in SQL from what was just written, so it cannot drift from the prices table.
        conn.execute(
            "INSERT INTO product_prices (product_id, price_list, min_amount)"
            " SELECT v.product_id, p.price_list, MIN(p.amount) FROM variants v JOIN prices p ON p.variant_id = v.id"
            " GROUP BY v.product_id, p.price_list ORDER BY v.product_id, p.price_list"
        )
        variants = sum(plan.variant_count for plan in plans)
        conn.executemany(
            "INSERT INTO inventory (variant_id, on_hand, reserved) VALUES (?, ?, ?)", _inventory_rows(rng, variants)
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return SeedSummary(categories=len(categories), products=products, variants=variants)
