"""Speed goals (targets stated once) and the measurements behind them."""
