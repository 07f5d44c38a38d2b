CREATE TABLE `command_results` (
	`key` text PRIMARY KEY NOT NULL,
	`fingerprint` text NOT NULL,
	`type` text NOT NULL,
	`reply` text,
	`started_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `command_results_started` ON `command_results` (`started_at`);