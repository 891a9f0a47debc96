if exists "list-id" { discard; stop; }
keep;
