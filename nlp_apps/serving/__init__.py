"""`nlp-apps serve`: TF Serving's REST API over our versioned exports, with server-side batching and a demo page."""
