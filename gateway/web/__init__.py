"""What the gateway serves to browsers besides the JSON API: pages and their assets."""
