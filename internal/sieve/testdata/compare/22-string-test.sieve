require ["variables", "fileinto"];
set "s" "green";
if string :is "${s}" "green" { fileinto "Green"; }
if string :matches "${s}" "g*n" { fileinto "G-${1}-n"; }
