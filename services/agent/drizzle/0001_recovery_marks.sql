CREATE TABLE `recovery_emitted` (
	`n` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`kind` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `recovery_emitted_id_unique` ON `recovery_emitted` (`id`);--> statement-breakpoint
CREATE TABLE `recovery_sessions` (
	`session` text PRIMARY KEY NOT NULL,
	`updated` integer NOT NULL
);
