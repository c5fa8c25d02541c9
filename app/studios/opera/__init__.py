"""app.studios.opera."""
