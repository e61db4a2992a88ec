"""Pages of the browser app for reps, managers and marketers: they read from every app, so they live here."""
