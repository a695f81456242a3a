"""The sensitivity study: which change of protocol moves the MSE results to the thesis's values?

- :mod:`.cases`    the factors, the cases a study expands to, and their combined (case, seed) dataset
- :mod:`.infinite` the infinite-width reference: the analytic NTK and closed-form gradient descent
- :mod:`.report`   the table (CSV, Markdown) and the written conclusion, from those datasets alone
"""
