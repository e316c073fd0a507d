-- Per (symbol, bar date): the split ratio (new/old shares; 1 if none), cash dividend per
-- share (0 if none) and earnings facts that take effect on that bar.
{{ corporate_actions() }}
