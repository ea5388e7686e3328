"""No models. The module exists so Django sends this app's post_migrate signal (roles sync)."""
