require "fileinto";
if allof (exists "from", not exists "x-nope", anyof (false, header :contains "to" "carol")) { fileinto "Logic"; }
