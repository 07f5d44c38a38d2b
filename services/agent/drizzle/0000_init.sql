CREATE TABLE `spool_events` (
	`seq` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`bytes` integer NOT NULL,
	`record` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `spool_meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` integer NOT NULL
);
