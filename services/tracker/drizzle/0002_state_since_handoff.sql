ALTER TABLE `sessions` ADD `state_since` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `previous_session` text;--> statement-breakpoint
CREATE INDEX `sessions_previous_idx` ON `sessions` (`previous_session`);