
*€x€€ÿ÷Bfloat16