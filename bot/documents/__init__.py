"""Documents the bot sends: the receipt PDF, the payment QR and the consumption chart.

- :mod:`bot.documents.payment`: the ГОСТ Р 56042 payment order of an account and its QR.
- :mod:`bot.documents.receipt_pdf`: the payment document (квитанция) as a PDF.
- :mod:`bot.documents.chart`: monthly consumption as a PNG bar chart.
- :mod:`bot.documents.labels`: the receipt's label texts in Russian and English.

Nothing is imported here, so that a handler needing only the QR does not load fpdf.
"""
