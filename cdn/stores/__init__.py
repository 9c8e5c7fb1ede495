"""Cache stores behind one interface."""
