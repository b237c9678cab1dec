"""Payment helpers: bank-detail checks, ГОСТ Р 56042-2014 payloads and their QR images."""
