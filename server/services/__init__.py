"""Domain services the JSON API and the pages share; they import neither."""
