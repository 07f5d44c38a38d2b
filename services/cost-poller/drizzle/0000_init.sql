CREATE TABLE `budget_alerts` (
	`budget` text NOT NULL,
	`subject` text NOT NULL,
	`period_key` text NOT NULL,
	`kind` text NOT NULL,
	`published_at` integer NOT NULL,
	PRIMARY KEY(`budget`, `subject`, `period_key`, `kind`)
);
--> statement-breakpoint
CREATE TABLE `consumer_state` (
	`name` text PRIMARY KEY NOT NULL,
	`applied_seq` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `message_spend` (
	`session` text NOT NULL,
	`message_id` text NOT NULL,
	`node` text NOT NULL,
	`project` text NOT NULL,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`day` text NOT NULL,
	`at_ms` integer NOT NULL,
	`input` integer NOT NULL,
	`output` integer NOT NULL,
	`reasoning` integer NOT NULL,
	`cache_read` integer NOT NULL,
	`cache_write` integer NOT NULL,
	`micros` integer NOT NULL,
	`estimated` integer NOT NULL,
	PRIMARY KEY(`session`, `message_id`)
);
--> statement-breakpoint
CREATE INDEX `message_spend_day` ON `message_spend` (`day`);--> statement-breakpoint
CREATE INDEX `message_spend_at` ON `message_spend` (`at_ms`);--> statement-breakpoint
CREATE TABLE `provider_cost` (
	`provider` text NOT NULL,
	`day` text NOT NULL,
	`model` text NOT NULL,
	`scope_id` text NOT NULL,
	`line_item` text NOT NULL,
	`micros` integer NOT NULL,
	PRIMARY KEY(`provider`, `day`, `model`, `scope_id`, `line_item`)
);
--> statement-breakpoint
CREATE TABLE `provider_status` (
	`provider` text PRIMARY KEY NOT NULL,
	`state` text NOT NULL,
	`reason` text,
	`code` text,
	`last_attempt_at` integer,
	`last_success_at` integer
);
--> statement-breakpoint
CREATE TABLE `provider_usage` (
	`provider` text NOT NULL,
	`day` text NOT NULL,
	`model` text NOT NULL,
	`scope_id` text NOT NULL,
	`api_key_id` text NOT NULL,
	`input` integer NOT NULL,
	`output` integer NOT NULL,
	`cache_read` integer NOT NULL,
	`cache_write` integer NOT NULL,
	`requests` integer NOT NULL,
	PRIMARY KEY(`provider`, `day`, `model`, `scope_id`, `api_key_id`)
);
