require ["variables", "fileinto"];
set :upperfirst :lower "a" "hELLO";
set :length "n" "abcde";
fileinto "${a}${n}";
