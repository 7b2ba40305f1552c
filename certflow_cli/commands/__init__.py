"""One module per command group; app.py registers them."""
