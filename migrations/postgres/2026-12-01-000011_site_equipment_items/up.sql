-- The items of each site's latest check, beside its day and count: a list of sites as of today
-- (the default) then shows each site's equipment from its own row, with no lookup per site.
ALTER TABLE sites ADD COLUMN equipment_items TEXT;
UPDATE sites SET equipment_items = (
    SELECT c.items FROM equipment_checks c
    WHERE c.site_id = sites.id AND c.checked_on = sites.equipment_checked_on
)
WHERE equipment_checked_on IS NOT NULL;
