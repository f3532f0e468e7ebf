ALTER TABLE sites DROP COLUMN equipment_items;
