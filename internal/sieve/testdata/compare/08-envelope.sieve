require ["envelope", "fileinto", "subaddress"];
if envelope :detail "to" "work" { fileinto "Work"; }
if envelope :domain :is "from" "example.org" { fileinto "FromOrg"; }
