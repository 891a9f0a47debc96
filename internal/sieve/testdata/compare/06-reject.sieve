require "reject";
if header :is "x-priority" "2" { reject "Not today."; }
