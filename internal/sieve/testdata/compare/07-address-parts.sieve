require ["fileinto", "subaddress"];
if address :domain :is "from" "example.org" { fileinto "Org"; }
if address :user "from" "ann" { fileinto "Ann"; }
if address :detail "from" "lists" { fileinto "Lists"; }
if address :localpart :is "to" "carol" { fileinto "Carol"; }
