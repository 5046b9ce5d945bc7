"""Training recipes: `antiphon train codec` and `antiphon train lm`."""
