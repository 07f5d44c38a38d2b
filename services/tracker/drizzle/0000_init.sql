CREATE TABLE `events` (
	`stream_seq` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`node` text NOT NULL,
	`project` text NOT NULL,
	`session` text,
	`type` text NOT NULL,
	`time` text NOT NULL,
	`record` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `events_id_idx` ON `events` (`id`);--> statement-breakpoint
CREATE INDEX `events_session_idx` ON `events` (`session`,`stream_seq`);--> statement-breakpoint
CREATE INDEX `events_time_idx` ON `events` (`time`);--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `nodes` (
	`node` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`gateway` text,
	`agent_version` text,
	`projects` text DEFAULT '[]' NOT NULL,
	`last_heartbeat_at` text,
	`online_since` text,
	`resources` text
);
--> statement-breakpoint
CREATE TABLE `session_log` (
	`stream_seq` integer PRIMARY KEY NOT NULL,
	`session` text NOT NULL,
	`message_id` text NOT NULL,
	`part_id` text NOT NULL,
	`role` text NOT NULL,
	`kind` text NOT NULL,
	`text` text,
	`tool` text,
	`tool_status` text,
	`time` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `session_log_part_idx` ON `session_log` (`session`,`message_id`,`part_id`);--> statement-breakpoint
CREATE INDEX `session_log_time_idx` ON `session_log` (`time`);--> statement-breakpoint
CREATE TABLE `session_messages` (
	`session` text NOT NULL,
	`message_id` text NOT NULL,
	`tokens_input` integer NOT NULL,
	`tokens_output` integer NOT NULL,
	`tokens_reasoning` integer NOT NULL,
	`tokens_cache_read` integer NOT NULL,
	`tokens_cache_write` integer NOT NULL,
	`cost_usd` real NOT NULL,
	`model` text NOT NULL,
	`provider` text NOT NULL,
	`stream_seq` integer NOT NULL,
	PRIMARY KEY(`session`, `message_id`)
);
--> statement-breakpoint
CREATE TABLE `sessions` (
	`session` text PRIMARY KEY NOT NULL,
	`node` text NOT NULL,
	`project` text NOT NULL,
	`state` text NOT NULL,
	`prior_state` text,
	`title` text,
	`directory` text,
	`model` text,
	`provider` text,
	`current_task` text,
	`tokens_input` integer DEFAULT 0 NOT NULL,
	`tokens_output` integer DEFAULT 0 NOT NULL,
	`tokens_reasoning` integer DEFAULT 0 NOT NULL,
	`tokens_cache_read` integer DEFAULT 0 NOT NULL,
	`tokens_cache_write` integer DEFAULT 0 NOT NULL,
	`cost_usd` real DEFAULT 0 NOT NULL,
	`compactions` integer DEFAULT 0 NOT NULL,
	`errors` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`pending_permissions` text DEFAULT '[]' NOT NULL,
	`retry` text,
	`started_at` text,
	`last_activity_at` text DEFAULT '' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sessions_activity_idx` ON `sessions` ("last_activity_at" desc,`session`);--> statement-breakpoint
CREATE INDEX `sessions_node_idx` ON `sessions` (`node`);--> statement-breakpoint
CREATE INDEX `sessions_state_idx` ON `sessions` (`state`);