require ["body", "fileinto"];
if body :contains "invoice number" { fileinto "Invoices"; }
if body :raw :contains "<b>green</b>" { fileinto "Raw"; }
if body :content "text/html" :contains "numbers" { fileinto "Html"; }
